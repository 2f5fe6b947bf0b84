use redis_debounce::debounce;

#[derive(Debug)]
struct AppError;

#[debounce(key = "order:{id}", ttl = 30)]
fn order(id: u64) -> Result<u64, AppError> {
    Ok(id)
}

fn main() {}
