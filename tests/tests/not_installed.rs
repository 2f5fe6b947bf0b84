//! Without `using`, the installed `Debouncer` is used; before `install`, a
//! call is turned away with a clear error instead of a panic.
//! (One test in this binary: the installed default is process-wide.)

use redis_debounce::{Busy, Debouncer, Error, debounce};

#[debounce(key = "signup:{email}", ttl = 30, on_error = "allow")]
async fn signup(email: &str) -> Result<usize, Busy> {
    Ok(email.len())
}

#[debounce(key = "signup:{email}", ttl = 30)]
fn signup_sync(email: &str) -> Result<usize, Busy> {
    Ok(email.len())
}

#[tokio::test]
async fn install_decides_the_default() {
    assert!(redis_debounce::installed().is_none());
    let busy = signup("a@example.com").await.unwrap_err();
    assert!(
        matches!(busy.error(), Some(Error::NotInstalled)),
        "{busy:?}"
    );
    assert_eq!(busy.key(), "signup:a%40example.com");
    assert!(busy.to_string().contains("install"), "{busy}");
    let busy = signup_sync("a@example.com").unwrap_err();
    assert!(
        matches!(busy.error(), Some(Error::NotInstalled)),
        "{busy:?}"
    );

    let debouncer = Debouncer::memory();
    redis_debounce::install(debouncer.clone());
    assert_eq!(signup("a@example.com").await.unwrap(), 13);
    let _held = debouncer
        .try_lock("signup:a%40example.com", std::time::Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        signup("a@example.com").await.unwrap_err().is_held(),
        "the installed one is used"
    );
    assert!(signup_sync("a@example.com").unwrap_err().is_held());

    // A later install replaces it: calls lock in the new one, not the old.
    let replacement = Debouncer::memory();
    redis_debounce::install(replacement.clone());
    assert_eq!(signup("b@example.com").await.unwrap(), 13);
    let _taken = replacement
        .try_lock("signup:b%40example.com", std::time::Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        signup("b@example.com").await.unwrap_err().is_held(),
        "the replacement is used"
    );
    assert!(
        signup("a@example.com").await.is_ok(),
        "the first one, still holding signup:a@..., is not"
    );
}
