use redis_debounce::debounce;

#[debounce(key = "list:{id}", ttl = 30, replay = "1h", busy = Vec::new())]
fn list(id: u64) -> impl IntoIterator<Item = u64> {
    vec![id]
}

fn main() {}
