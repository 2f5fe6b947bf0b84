use redis_debounce::{debounce, Busy};

trait Orders {
    #[debounce(key = "order:{id}", ttl = 30)]
    fn order(&self, id: u64) -> Result<u64, Busy>;
}

fn main() {}
