//! Misuse of `#[debounce]` is a compile error with a clear message, spanned
//! on the offending token. The `.stderr` files are reviewed like code.

#[test]
fn compile_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/*.rs");
}
