//! Ternary training reference.
pub mod error;
pub(crate) mod layers;
pub mod model;
pub mod quant;

pub use error::TernaryError;
