//! Query backends: target profiles (data under targets/), escaping, one module per language.
//! Reads only the IR; never imports `eval`.
