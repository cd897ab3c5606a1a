//! The shop: an application that declares its schema changes with zdm.

pub mod migrations;
