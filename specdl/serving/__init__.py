"""`specdl serve`: a finished run as an HTTP service (FastAPI on uvicorn, the optional
`serve` extra). schema.py generates the request and answer models from the run's saved
preprocessing, requests.py reads a request as `specdl predict` reads its inputs,
backend.py holds the run and the forward, guards.py the body limit, the API key and the
422 line, app.py the routes, server.py runs it under uvicorn. Nothing here is imported
by `import specdl` or `specdl check`."""
