//! Unit tests: parser errors and odd inputs.
