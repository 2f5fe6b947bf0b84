use axum::response::IntoResponse;
use redis_debounce::debounce;

#[debounce(key = "order:{id}", ttl = 30, replay = "1h")]
fn order(id: u64) -> impl IntoResponse {
    format!("order {id}")
}

fn main() {}
