//! A Kafka topic as a sync destination (`--to kafka://host:port/topic`): each change of a
//! planned batch becomes one message (key = article id, value = [`SyncMessage`], header
//! `published-at`), published by an idempotent producer with `acks=all`. A batch counts as
//! applied only once the broker acknowledged every one of its messages; only then does the sync
//! state advance (see `target`), so a crash loses nothing and at worst publishes a batch again.

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::Context;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use super::plan::BatchPlan;
use super::target::ApplyError;
use crate::contract::BulkRow;
use crate::db::models::Timestamp;
use crate::db::write::BulkOutcome;
use crate::kafka::message::{SyncMessage, PUBLISHED_AT};
use crate::kafka::{client_config, ensure_topic, KafkaSettings, KafkaUrl};

/// A topic that sync publishes to.
pub struct KafkaTopic {
    producer: FutureProducer,
    url: KafkaUrl,
}

impl KafkaTopic {
    /// Connects to the cluster of `url` and creates its topic with `partitions` when missing.
    /// `timeout` bounds topic creation and each message's delivery (librdkafka retries within
    /// it).
    pub async fn connect(
        url: &KafkaUrl,
        settings: &KafkaSettings,
        partitions: i32,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let base = client_config(&url.brokers, settings)?;
        ensure_topic(&base, &url.topic, partitions, timeout)
            .await
            .with_context(|| format!("cannot reach Kafka at {}", url.brokers))?;
        let mut config = base;
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // The Java client's partitioner: a key lands where other producers put it.
            .set("partitioner", "murmur2_random")
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            .set("message.timeout.ms", timeout.as_millis().to_string());
        // The user's settings win over ours.
        for (key, value) in settings.all()? {
            config.set(key, value);
        }
        let producer = config
            .create()
            .context("cannot create the Kafka producer")?;
        Ok(Self {
            producer,
            url: url.clone(),
        })
    }

    pub fn describe(&self) -> String {
        format!("kafka://{}/{}", self.url.brokers, self.url.topic)
    }

    /// Publishes every change of `plan` and waits until the broker acknowledged them all.
    /// Counts are messages by kind: upserts of new ids as inserted, of known ids as updated.
    pub async fn publish(&self, plan: &BatchPlan) -> Result<BulkOutcome, ApplyError> {
        let published_at = Timestamp::now().to_rfc3339();
        let mut deliveries = VecDeque::with_capacity(plan.changes());
        let mut buffer = Vec::with_capacity(2048);
        let upserts = plan.insert.iter().chain(&plan.update).map(|(row, _)| {
            (
                row.id.0,
                SyncMessage::Upsert {
                    article: BulkRow::from(row),
                },
            )
        });
        let deletes = plan
            .delete
            .iter()
            .map(|id| (id.0, SyncMessage::Delete { id: id.0 }));
        for (id, message) in upserts.chain(deletes) {
            buffer.clear();
            serde_json::to_writer(&mut buffer, &message).expect("a sync message serializes");
            let key = id.to_string();
            loop {
                let record = FutureRecord::to(&self.url.topic)
                    .key(&key)
                    .payload(&buffer)
                    .headers(OwnedHeaders::new().insert(Header {
                        key: PUBLISHED_AT,
                        value: Some(&published_at),
                    }));
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push_back((id, delivery));
                        break;
                    }
                    // librdkafka's queue is full: wait for the oldest message, then try again.
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        match deliveries.pop_front() {
                            Some((id, delivery)) => self.delivered(id, delivery).await?,
                            None => tokio::time::sleep(Duration::from_millis(5)).await,
                        }
                    }
                    Err((error, _)) => return Err(self.classify(id, error)),
                }
            }
        }
        while let Some((id, delivery)) = deliveries.pop_front() {
            self.delivered(id, delivery).await?;
        }
        Ok(BulkOutcome {
            inserted: plan.insert.len() as u64,
            updated: plan.update.len() as u64,
            deleted: plan.delete.len() as u64,
            ..BulkOutcome::default()
        })
    }

    async fn delivered(&self, id: i64, delivery: DeliveryFuture) -> Result<(), ApplyError> {
        match delivery.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((error, _))) => Err(self.classify(id, error)),
            Err(_) => Err(ApplyError::Transient(anyhow::anyhow!(
                "the Kafka producer stopped before {} acknowledged article {id}",
                self.describe()
            ))),
        }
    }

    /// What a failed publish of article `id` means: the message itself refused (too large,
    /// invalid), a set-up no retry fixes (authorization, authentication), or a passing outage.
    fn classify(&self, id: i64, error: KafkaError) -> ApplyError {
        let code = error.rdkafka_error_code();
        let error = anyhow::Error::new(error).context(format!(
            "cannot publish article {id} to {}",
            self.describe()
        ));
        use RDKafkaErrorCode as Code;
        match code {
            Some(
                Code::MessageSizeTooLarge
                | Code::InvalidMessageSize
                | Code::InvalidMessage
                | Code::InvalidRecord
                | Code::MessageBatchTooLarge,
            ) => ApplyError::Refused(error),
            Some(
                Code::TopicAuthorizationFailed
                | Code::ClusterAuthorizationFailed
                | Code::SaslAuthenticationFailed
                | Code::Authentication
                | Code::UnsupportedSASLMechanism
                | Code::Fatal
                | Code::InvalidArgument,
            ) => ApplyError::Fatal(error),
            _ => ApplyError::Transient(error),
        }
    }
}
