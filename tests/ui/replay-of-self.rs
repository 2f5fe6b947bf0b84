use redis_debounce::{debounce, Busy};

trait Load: Sized {
    #[debounce(key = "load:{id}", ttl = 30, replay = "1h")]
    fn load(id: u64) -> Result<Self, Busy> {
        let _ = id;
        todo!()
    }
}

#[debounce(key = "get:{id}", ttl = 30, replay = "1h")]
fn get<T: Default>(id: u64) -> Result<T, Busy> {
    let _ = id;
    Ok(T::default())
}

fn main() {}
