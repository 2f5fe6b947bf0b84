//! The URLs of the topologies, so that a deployment picks one by setting
//! one variable:
//!
//! - `redis://`, `rediss://`, `redis+unix://`: one server;
//! - `redis+sentinel://[user:pass@]host:port,host:port/service[/db]`: the
//!   master of `service`, found through those sentinels (the credentials
//!   and database are the master's);
//! - `redis+cluster://[user:pass@]host:port,host:port`: a Redis Cluster
//!   that those nodes belong to;
//! - `redis+redlock://[user:pass@]host:port,host:port,host:port[/db]`:
//!   Redlock over those independent masters.
//!
//! `rediss+…` is each one over TLS. Errors never echo the URL (it may
//! hold a password).

use crate::Error;

/// Where the locks live, as a URL names it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Topology {
    Server(String),
    Sentinel { service: String, nodes: Vec<String> },
    Cluster(Vec<String>),
    Redlock(Vec<String>),
}

pub(crate) fn topology(url: &str) -> Result<Topology, Error> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(Topology::Server(url.into()));
    };
    let Some((base, kind)) = scheme.split_once('+') else {
        return Ok(Topology::Server(url.into()));
    };
    if !matches!(base, "redis" | "rediss") || !matches!(kind, "sentinel" | "cluster" | "redlock") {
        return Ok(Topology::Server(url.into()));
    }
    // `[userinfo@]hosts[/path][?query]`: the authority ends at the first
    // `/` or `?`; a password's own `@`, `/` and `?` are percent-encoded.
    let (authority, tail) = rest
        .find(['/', '?'])
        .map_or((rest, ""), |at| rest.split_at(at));
    let (userinfo, hosts) = authority
        .rsplit_once('@')
        .map_or(("", authority), |(userinfo, hosts)| (userinfo, hosts));
    let (path, query) = tail
        .split_once('?')
        .map_or((tail, ""), |(path, query)| (path, query));
    let hosts: Vec<&str> = hosts.split(',').collect();
    if hosts.iter().any(|host| host.is_empty()) {
        return Err(Error::config(format!(
            "a `{scheme}://` URL lists an empty host"
        )));
    }
    let node = |host: &str, path: &str| {
        let mut url = format!("{base}://");
        if !userinfo.is_empty() {
            url.push_str(userinfo);
            url.push('@');
        }
        url.push_str(host);
        url.push_str(path);
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        url
    };
    Ok(match kind {
        "sentinel" => {
            let path = path.strip_prefix('/').unwrap_or(path);
            let (service, db) = path.split_once('/').map_or((path, ""), |(s, db)| (s, db));
            if service.is_empty() {
                return Err(Error::config(
                    "a `redis+sentinel://` URL names no service: `redis+sentinel://host:port,host:port/service`",
                ));
            }
            let db = if db.is_empty() {
                String::new()
            } else {
                format!("/{db}")
            };
            Topology::Sentinel {
                service: service.into(),
                nodes: hosts.iter().map(|host| node(host, &db)).collect(),
            }
        }
        "cluster" => {
            if !path.is_empty() && path != "/" {
                return Err(Error::config(
                    "a `redis+cluster://` URL has no database: a cluster serves database 0 only",
                ));
            }
            Topology::Cluster(hosts.iter().map(|host| node(host, "")).collect())
        }
        _ => Topology::Redlock(hosts.iter().map(|host| node(host, path)).collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::{Topology, topology};

    #[test]
    fn topologies_by_url() {
        assert_eq!(
            topology("redis://h:1/2").unwrap(),
            Topology::Server("redis://h:1/2".into())
        );
        assert_eq!(
            topology("redis+unix:///tmp/s.sock").unwrap(),
            Topology::Server("redis+unix:///tmp/s.sock".into())
        );
        assert_eq!(
            topology("redis+sentinel://:pw@a:26379,b:26380/mymaster/3?protocol=resp3").unwrap(),
            Topology::Sentinel {
                service: "mymaster".into(),
                nodes: vec![
                    "redis://:pw@a:26379/3?protocol=resp3".into(),
                    "redis://:pw@b:26380/3?protocol=resp3".into(),
                ],
            }
        );
        assert_eq!(
            topology("rediss+cluster://u:p%40w@a:7000,b:7001").unwrap(),
            Topology::Cluster(vec![
                "rediss://u:p%40w@a:7000".into(),
                "rediss://u:p%40w@b:7001".into(),
            ])
        );
        assert_eq!(
            topology("redis+redlock://a,b:6380,c/1").unwrap(),
            Topology::Redlock(vec![
                "redis://a/1".into(),
                "redis://b:6380/1".into(),
                "redis://c/1".into(),
            ])
        );
    }

    #[test]
    fn malformed_topology_urls_are_errors_without_the_password() {
        for url in [
            "redis+sentinel://:hunter2@a,b/",
            "redis+sentinel://:hunter2@a,b",
            "redis+cluster://:hunter2@a,,b",
            "redis+cluster://:hunter2@a,b/1",
            "redis+redlock://:hunter2@",
        ] {
            let error = topology(url).expect_err(url);
            assert!(!error.to_string().contains("hunter2"), "{url}: {error}");
        }
        // A "scheme" that runs into the password is not named.
        let error = crate::Debouncer::open("redis:/:hunter2@127.0.0.1:1/?next=http://x")
            .expect_err("not a Redis URL")
            .to_string();
        assert!(
            !error.contains("hunter2") && error.contains("not a Redis URL"),
            "{error}"
        );
    }
}
