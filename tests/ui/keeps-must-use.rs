#![deny(unused_must_use)]

use redis_debounce::debounce;

#[debounce(key = "job:{id}", ttl = 30, busy = false)]
#[must_use = "`false` means the job did not run"]
fn run(id: u64) -> bool {
    true
}

fn main() {
    run(1);
}
