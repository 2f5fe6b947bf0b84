use redis_debounce::{debounce, Busy};

#[async_trait::async_trait]
trait Save {
    async fn save(&self, pair: (u32, u32)) -> Result<u32, Busy>;
}

struct Saver;

#[async_trait::async_trait]
impl Save for Saver {
    // #[tracing::instrument] runs first here and hides the parameters that
    // #[async_trait] declared; #[debounce] must come first.
    #[tracing::instrument(skip(self))]
    #[debounce(key = "save:{a}", ttl = 30)]
    async fn save(&self, (a, b): (u32, u32)) -> Result<u32, Busy> {
        Ok(a + b)
    }
}

fn main() {}
