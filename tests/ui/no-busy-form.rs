use redis_debounce::debounce;

#[debounce(key = "order:{id}", ttl = 30)]
async fn order(id: u64) -> u64 {
    id
}

fn main() {}
