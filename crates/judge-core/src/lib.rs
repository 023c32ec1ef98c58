//! Core types of judge (work in progress).
