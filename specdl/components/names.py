"""The rules for names a spec gives layers and blocks: a plain identifier of at most 64
characters, no Python keyword, and none of the names the generated module itself uses."""

import keyword
import re
from typing import Annotated

from pydantic import AfterValidator

# Names a layer may not take. A layer's name is its attribute on the module, so every
# public attribute of ``nn.Module`` (tests/test_security.py checks this list against the
# installed torch) is out, and so are the names the generated module code itself uses.
MODULE_ATTRS = frozenset("""
    T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda
    double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
    get_submodule half ipu load_state_dict modules mtia named_buffers named_children
    named_modules named_parameters parameters register_backward_hook register_buffer
    register_forward_hook register_forward_pre_hook register_full_backward_hook
    register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter
    register_state_dict_post_hook register_state_dict_pre_hook requires_grad_ set_extra_state
    set_submodule share_memory state_dict to to_empty train training type xpu zero_grad
""".split())
RESERVED = MODULE_ATTRS | {"input", "x", "inp", "self", "torch", "nn", "F", "super"}
IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")  # always used with fullmatch


def is_ident(v) -> bool:
    """A plain name: letters, digits and _, starting with a letter, at most 64, no keyword.
    (``fullmatch``: ``re.match`` with ``$`` would let a trailing newline through.)"""
    return isinstance(v, str) and IDENT.fullmatch(v) is not None and not keyword.iskeyword(v)


def not_a_name(v, what: str) -> str | None:
    """Why ``v`` cannot name a layer or block (``what``), or None when it can."""
    if isinstance(v, str) and keyword.iskeyword(v):
        return (f"`{v}` is a Python keyword, which the generated code cannot use as a name; "
                f"choose another (`{v}_`, say)")
    if not is_ident(v):
        return (f"{v!r} is not a valid {what}: use letters, digits and _ (a Python identifier "
                "of at most 64 characters, starting with a letter)")
    return None


def _check_name(v: str | None) -> str | None:
    if v is None:
        return v
    if why := not_a_name(v, "layer name"):
        raise ValueError(why)
    if v in RESERVED:
        raise ValueError(f"`{v}` is reserved; choose another name")
    return v


LayerName = Annotated[str, AfterValidator(_check_name)]
