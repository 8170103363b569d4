//! Kafka, the design's main integration path: Base A → `articles sync --to kafka://…` → topic
//! `articles-sync` → `articles consume-kafka` → REST API → Base B.
//!
//! - [`message`]: the topic's wire format (what sync publishes, what the consumer accepts).
//! - [`consumer`]: `consume-kafka` ([`ConsumeArgs`], [`consumer::run`]); its one step,
//!   [`consumer::BatchApplier::apply_batch`], applies a batch through the REST API.
//! - [`KafkaSettings`], [`client_config`], [`ensure_topic`]: how every role reaches a cluster
//!   (bootstrap servers, librdkafka settings for TLS/SASL, topic creation).
//! - `metrics`: the consumer's Prometheus families.
//!
//! The producer side is a sync destination (`crate::sync`'s Kafka target): change detection is
//! sync's, publishing is one more way to apply a batch.
//!
//! **Architecture Invariant:** the consumer never touches a database; it writes through the REST
//! API's bulk endpoint with `api_client`, so the API's rules are the consumer's rules.
//! **Architecture Invariant:** offsets are committed only after the REST API (and, for poison
//! messages, the dead-letter topic) acknowledged every message up to them; at-least-once, made
//! harmless by the idempotent bulk apply and its stale-update guard.

pub mod consumer;
pub mod message;
mod metrics;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::ClientConfig;

pub use consumer::ConsumeArgs;

/// The topic `sync` publishes to and `consume-kafka` reads by default.
pub const DEFAULT_TOPIC: &str = "articles-sync";

/// librdkafka settings for every Kafka client a command makes (TLS, SASL, timeouts, …).
#[derive(Debug, Clone, Default, Args)]
pub struct KafkaSettings {
    /// A librdkafka setting (`key=value`) for every Kafka client of this command, e.g.
    /// `-X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512`; repeatable; wins over the
    /// file. See librdkafka's CONFIGURATION.md for the keys.
    #[arg(short = 'X', long = "kafka-setting", value_name = "KEY=VALUE", value_parser = parse_setting)]
    pub settings: Vec<(String, String)>,

    /// A file of librdkafka settings, one `key=value` per line (`#` starts a comment): the place
    /// for credentials (`sasl.password=…`), so they stay off the command line.
    #[arg(long, env = "ARTICLES_KAFKA_CONFIG_FILE", value_name = "PATH")]
    pub kafka_config_file: Option<PathBuf>,
}

fn parse_setting(raw: &str) -> Result<(String, String), String> {
    let (key, value) = raw
        .split_once('=')
        .ok_or_else(|| format!("'{raw}' is not key=value"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("'{raw}' has no key"));
    }
    Ok((key.to_owned(), value.trim().to_owned()))
}

impl KafkaSettings {
    /// Every setting: the file's first, then the command line's.
    pub fn all(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut all = Vec::new();
        if let Some(path) = &self.kafka_config_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read Kafka settings {}", path.display()))?;
            for (number, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                all.push(parse_setting(line).map_err(|e| {
                    anyhow::anyhow!("{}, line {}: {e}", path.display(), number + 1)
                })?);
            }
        }
        all.extend(self.settings.iter().cloned());
        Ok(all)
    }
}

/// A client configuration for `brokers`: our defaults, then the user's settings on top.
///
/// With TLS (`security.protocol` `ssl` or `sasl_ssl`) and no `ssl.ca.location`, the CA
/// certificates are looked for where the system keeps them (`probe`): the OpenSSL built into the
/// binary would otherwise look only under its own prefix (`/usr/local/ssl`) and trust nothing.
pub fn client_config(brokers: &str, settings: &KafkaSettings) -> anyhow::Result<ClientConfig> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", concat!("articles/", env!("CARGO_PKG_VERSION")));
    let all = settings.all()?;
    let get = |key: &str| {
        all.iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let tls = matches!(
        get("security.protocol").as_deref(),
        Some("ssl" | "sasl_ssl")
    );
    if tls && get("ssl.ca.location").is_none() {
        config.set("ssl.ca.location", "probe");
    }
    for (key, value) in all {
        config.set(key, value);
    }
    Ok(config)
}

/// Where `sync --to kafka://brokers/topic` publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaUrl {
    /// Bootstrap servers, comma-separated (`host:port,host:port`).
    pub brokers: String,
    pub topic: String,
}

impl KafkaUrl {
    /// Parses `kafka://host:port[,host:port…][/topic]`; the topic defaults to [`DEFAULT_TOPIC`].
    pub fn parse(raw: &str) -> Result<Self, String> {
        let rest = raw
            .strip_prefix("kafka://")
            .ok_or_else(|| format!("'{raw}' is not a kafka:// URL"))?;
        let (brokers, topic) = rest.split_once('/').unwrap_or((rest, ""));
        if brokers.is_empty() || brokers.split(',').any(|b| b.trim().is_empty()) {
            return Err(format!("'{raw}' names no broker (kafka://host:port/topic)"));
        }
        let topic = if topic.is_empty() {
            DEFAULT_TOPIC
        } else {
            topic
        };
        check_topic_name(topic)?;
        Ok(Self {
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
        })
    }
}

/// Kafka's rule for topic names: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn check_topic_name(topic: &str) -> Result<(), String> {
    let legal = !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if legal {
        Ok(())
    } else {
        Err(format!(
            "'{topic}' is not a valid topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-')"
        ))
    }
}

/// Creates `topic` with `partitions` when it does not exist yet (replication: the cluster's
/// default). An existing topic is left as it is.
pub async fn ensure_topic(
    config: &ClientConfig,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = config
        .create()
        .context("cannot create a Kafka admin client")?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(-1));
    let options = AdminOptions::new().operation_timeout(Some(timeout));
    let results = admin
        .create_topics([&new], &options)
        .await
        .with_context(|| format!("cannot create topic {topic}"))?;
    for result in results {
        match result {
            Ok(_) => tracing::info!(topic, partitions, "topic created"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("cannot create topic {name}: {code}"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_urls() {
        assert_eq!(
            KafkaUrl::parse("kafka://127.0.0.1:9092/articles-sync"),
            Ok(KafkaUrl {
                brokers: "127.0.0.1:9092".into(),
                topic: "articles-sync".into()
            })
        );
        assert_eq!(
            KafkaUrl::parse("kafka://a:1,b:2").unwrap(),
            KafkaUrl {
                brokers: "a:1,b:2".into(),
                topic: DEFAULT_TOPIC.into()
            }
        );
        for bad in [
            "kafka://",
            "kafka:///t",
            "http://x/t",
            "kafka://a:1/bad topic",
            "kafka://a,/t",
        ] {
            assert!(KafkaUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_from_file_and_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kafka.properties");
        std::fs::write(
            &file,
            "# credentials\nsasl.username = me\n\nsasl.password=a=b\n",
        )
        .unwrap();
        let settings = KafkaSettings {
            settings: vec![("sasl.username".into(), "you".into())],
            kafka_config_file: Some(file),
        };
        assert_eq!(
            settings.all().unwrap(),
            [
                ("sasl.username".into(), "me".into()),
                ("sasl.password".into(), "a=b".into()),
                ("sasl.username".into(), "you".into())
            ]
        );
        assert!(parse_setting("novalue").is_err());
    }

    #[test]
    fn tls_without_a_ca_location_probes_the_system_store() {
        let with = |settings: &[(&str, &str)]| KafkaSettings {
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            kafka_config_file: None,
        };
        let ca = |settings| {
            client_config("b:1", &with(settings))
                .unwrap()
                .get("ssl.ca.location")
                .map(str::to_owned)
        };
        assert_eq!(
            ca(&[("security.protocol", "SASL_SSL")]).as_deref(),
            Some("probe")
        );
        assert_eq!(
            ca(&[("security.protocol", "ssl"), ("ssl.ca.location", "/ca.pem")]).as_deref(),
            Some("/ca.pem")
        );
        assert_eq!(ca(&[("security.protocol", "plaintext")]), None);
        assert_eq!(ca(&[]), None);
    }
}
