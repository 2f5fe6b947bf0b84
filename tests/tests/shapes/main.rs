//! What the macro accepts and refuses: every supported fn shape compiles
//! and behaves (`shapes`), and misuse is a spanned compile error (`ui`, the
//! trybuild cases in `tests/ui/`).

mod fn_shapes;
mod shapes;
mod ui;
