"""`specdl tune`: an Optuna study over the spec's `search` section, its trials and its report."""
