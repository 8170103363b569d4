//! The Kafka test support against a real broker (`scripts/kafka.sh`, or
//! `ARTICLES_TEST_KAFKA_BROKERS`), and the librdkafka build the Kafka code stands on.

mod kafka_support;

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_support::{broker, create_topic, produce_raw, read_all, unique_topic, Record};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The statically linked librdkafka has TLS, every SASL mechanism but GSSAPI, and every codec.
#[test]
fn librdkafka_is_built_with_tls_sasl_and_every_compression_codec() {
    let config = rdkafka::ClientConfig::new()
        .create_native_config()
        .expect("librdkafka configuration");
    let builtin = config.get("builtin.features").expect("builtin.features");
    let builtin: Vec<&str> = builtin.split(',').collect();
    for feature in [
        "ssl",
        "sasl_plain",
        "sasl_scram",
        "sasl_oauthbearer",
        "gzip",
        "snappy",
        "lz4",
        "zstd",
    ] {
        assert!(
            builtin.contains(&feature),
            "librdkafka lacks {feature}: {builtin:?}"
        );
    }
}

/// A topic created with 3 partitions is usable at once: the metadata shows a leader for each.
#[actix_rt::test]
async fn create_topic_returns_once_every_partition_has_a_leader() {
    let brokers = broker();
    let topic = unique_topic("support-create");

    create_topic(&brokers, &topic, 3).await;

    let consumer: BaseConsumer = kafka_support::client_config(&brokers)
        .create()
        .expect("client");
    let metadata = consumer
        .fetch_metadata(Some(&topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions = metadata.topics()[0].partitions();
    assert_eq!(partitions.len(), 3);
    assert!(partitions.iter().all(|p| p.leader() >= 0), "{partitions:?}");
    assert!(read_all(&brokers, &topic, READ_TIMEOUT).await.is_empty());
}

/// Keyed messages, tombstones, a keyless message and headers (repeated names, binary values)
/// come back exactly as sent, each key in one partition in the order it was produced.
#[actix_rt::test]
async fn keyed_messages_and_tombstones_read_back_in_partition_order() {
    let brokers = broker();
    let topic = unique_topic("support-roundtrip");
    create_topic(&brokers, &topic, 3).await;

    // Three versions of seven articles, then a tombstone for articles 2 and 5.
    let ids = [1, 2, 3, 4, 5, 6, 12];
    let mut sent = Vec::new();
    for version in 1..=3 {
        for id in ids {
            let key = format!("article-{id}");
            let value = format!(r#"{{"id":{id},"version":{version}}}"#);
            let headers: &[(&str, &[u8])] = &[("op", b"upsert"), ("trace", &[0, 159, 146, 150])];
            let at = produce_raw(
                &brokers,
                &topic,
                Some(key.as_bytes()),
                Some(value.as_bytes()),
                headers,
            )
            .await;
            sent.push((at, key, Some(value)));
        }
    }
    for id in [2, 5] {
        let key = format!("article-{id}");
        let headers: &[(&str, &[u8])] = &[("op", b"delete"), ("op", b"again")];
        let at = produce_raw(&brokers, &topic, Some(key.as_bytes()), None, headers).await;
        sent.push((at, key, None));
    }
    let keyless = produce_raw(&brokers, &topic, None, Some(b"poison \xff"), &[]).await;

    let records = read_all(&brokers, &topic, READ_TIMEOUT).await;

    assert_eq!(records.len(), sent.len() + 1);
    // All versions of a key land in one partition; these seven keys use all three partitions.
    for id in ids {
        let key = format!("article-{id}");
        let mut placed: Vec<i32> = records
            .iter()
            .filter(|r| r.key_str() == Some(key.as_str()))
            .map(|r| r.partition)
            .collect();
        placed.dedup();
        assert_eq!(placed.len(), 1, "{key} in partitions {placed:?}");
    }
    // Every partition reads back from offset 0 without a gap.
    let mut by_partition: BTreeMap<i32, Vec<&Record>> = BTreeMap::new();
    for record in &records {
        by_partition
            .entry(record.partition)
            .or_default()
            .push(record);
    }
    assert_eq!(by_partition.len(), 3);
    for (partition, list) in &by_partition {
        let offsets: Vec<i64> = list.iter().map(|r| r.offset).collect();
        let expected: Vec<i64> = (0..list.len() as i64).collect();
        assert_eq!(offsets, expected, "partition {partition}");
    }
    // Each message is where the producer was told it landed, as it was sent.
    for (at, key, value) in &sent {
        let record = records
            .iter()
            .find(|r| r.partition == at.partition && r.offset == at.offset)
            .unwrap_or_else(|| panic!("{at:?} read back"));
        assert_eq!(record.key_str(), Some(key.as_str()));
        assert_eq!(record.value_str(), value.as_deref());
    }
    // A key's versions stay in one partition, in production order, tombstone last.
    let versions: Vec<Option<serde_json::Value>> = records
        .iter()
        .filter(|r| r.key_str() == Some("article-2"))
        .map(Record::value_json)
        .collect();
    let expected: Vec<Option<serde_json::Value>> = (1..=3)
        .map(|version| Some(serde_json::json!({"id": 2, "version": version})))
        .chain([None])
        .collect();
    assert_eq!(versions, expected);
    // Headers keep their order, repeated names and binary values.
    let upsert = records
        .iter()
        .find(|r| r.value.is_some() && r.key.is_some());
    let upsert = upsert.expect("an upsert");
    assert_eq!(upsert.header_str("op"), Some("upsert"));
    assert_eq!(upsert.header("trace"), Some(&[0u8, 159, 146, 150][..]));
    let tombstone = records
        .iter()
        .find(|r| r.value.is_none())
        .expect("a tombstone");
    let names: Vec<(&str, Option<&[u8]>)> = tombstone
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_deref()))
        .collect();
    assert_eq!(
        names,
        [("op", Some(&b"delete"[..])), ("op", Some(&b"again"[..]))]
    );
    // The keyless message: no key, its bytes untouched, no headers.
    let poison = records
        .iter()
        .find(|r| r.partition == keyless.partition && r.offset == keyless.offset)
        .expect("keyless message read back");
    assert_eq!(poison.key, None);
    assert_eq!(poison.value.as_deref(), Some(&b"poison \xff"[..]));
    assert!(poison.headers.is_empty());
    assert!(poison.timestamp_ms.is_some());
}

/// Batches compressed with each codec the vendored build carries reach the broker and read back.
#[actix_rt::test]
async fn every_compression_codec_round_trips_through_the_broker() {
    let brokers = broker();
    let topic = unique_topic("support-codecs");
    create_topic(&brokers, &topic, 1).await;

    let codecs = ["gzip", "snappy", "lz4", "zstd"];
    for codec in codecs {
        let producer: FutureProducer = kafka_support::client_config(&brokers)
            .set("compression.type", codec)
            .create()
            .expect("producer");
        let value = codec.repeat(200);
        let record = FutureRecord::to(&topic).key(codec).payload(&value);
        producer
            .send(record, Duration::from_secs(30))
            .await
            .unwrap_or_else(|(e, _)| panic!("{codec}: {e}"));
    }

    let records = read_all(&brokers, &topic, READ_TIMEOUT).await;

    let read: Vec<(&str, usize)> = records
        .iter()
        .map(|r| (r.key_str().unwrap(), r.value.as_ref().unwrap().len()))
        .collect();
    let expected: Vec<(&str, usize)> = codecs.iter().map(|c| (*c, c.len() * 200)).collect();
    assert_eq!(read, expected);
}
