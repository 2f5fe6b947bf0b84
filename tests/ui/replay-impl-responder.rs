use actix_web::{HttpResponse, Responder};
use redis_debounce::debounce;

#[debounce(key = "pay:{id}", ttl = 30, replay = "1h")]
async fn pay(id: u64) -> impl Responder {
    HttpResponse::Created().finish()
}

fn main() {}
