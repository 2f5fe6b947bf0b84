//! Web handlers through real servers and a real HTTP client: axum and
//! actix-web.

mod actix;
mod axum;
mod confirm;
mod confirm_edges;
mod confirm_shapes;
mod workers;
