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

struct Cache<T>(T);

impl<T: serde::Serialize + serde::de::DeserializeOwned + Clone> Cache<T> {
    #[debounce(key = "temp", ttl = 30, replay = "1h")]
    async fn get(&self) -> Result<T, Busy> {
        Ok(self.0.clone())
    }
}

#[debounce(key = "pair:{id}", ttl = 30, replay = "1h")]
fn pair<T: Default>(id: u64) -> Result<(T, u8), Busy> {
    let _ = id;
    Ok((T::default(), 0))
}

fn main() {}
