//! Stub.
use super::Quiz;
use crate::{Result, Source};
/// What a package's quizzes import as.
#[derive(Debug, Default)]
pub struct Imported {
    pub quizzes: Vec<Quiz>,
    pub banks: Vec<Quiz>,
    pub unsupported: Vec<String>,
}
/// Reads.
pub fn import(_source: &Source) -> Result<Imported> {
    Ok(Imported::default())
}
