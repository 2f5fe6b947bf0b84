use redis_debounce::{debounce, Busy};

struct Receipt {
    total: u64,
}

#[derive(Debug)]
struct AppError;

impl From<Busy> for AppError {
    fn from(_: Busy) -> Self {
        AppError
    }
}

#[debounce(key = "charge:{id}", ttl = 30, replay = "24h")]
async fn charge(id: u64) -> Result<Receipt, AppError> {
    Ok(Receipt { total: id })
}

fn main() {}
