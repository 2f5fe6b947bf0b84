use redis_debounce::{debounce, Busy};

#[derive(Debug)]
struct AppError;

impl From<Busy> for AppError {
    fn from(_: Busy) -> Self {
        AppError
    }
}

#[debounce(key = "charge:{id}", ttl = 30, replay = "24h", replay_errors)]
fn charge(id: u64) -> Result<u64, AppError> {
    Ok(id)
}

fn main() {}
