//! Ternary training reference.
pub mod error;
pub mod quant;

pub use error::TernaryError;
