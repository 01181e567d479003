//! The spanned AST of one rule file.

#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub path: String,
}
