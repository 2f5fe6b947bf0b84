use redis_debounce::debounce;

struct Receipt {
    id: u64,
}

#[debounce(key = "order:{id}", ttl = 30)]
async fn order(id: u64) -> Receipt {
    Receipt { id }
}

fn main() {}
