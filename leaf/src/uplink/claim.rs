//! One venue id, one venue. nats-server does not notice two venues linked with the same
//! JetStream domain: requests to `$JS.<domain>.API` reach both, and their messages would mix
//! in one central copy. So each running leaf answers for its venue id on a subject of its
//! own, and asks now and then who else answers: any other leaf is a conflict to show.

use std::time::Duration;

use futures_util::StreamExt;

use super::VenueId;

/// The other leafs answering for one venue id, as far as one question can tell.
pub struct Claim {
    client: async_nats::Client,
    subject: String,
    /// This leaf, for this run.
    instance: String,
    /// Where answers come: subscribed once, so the central cluster knows the interest long
    /// before an answer is on its way.
    inbox: String,
    answers: async_nats::Subscriber,
    responder: tokio::task::JoinHandle<()>,
}

impl Claim {
    pub async fn start(
        client: &async_nats::Client,
        venue: &VenueId,
    ) -> Result<Self, async_nats::SubscribeError> {
        let subject = format!("leaf.uplink.venue.{venue}.claim");
        let instance = uuid::Uuid::new_v4().to_string();
        let mut questions = client.subscribe(subject.clone()).await?;
        let inbox = client.new_inbox();
        let answers = client.subscribe(inbox.clone()).await?;
        let (answering, me) = (client.clone(), instance.clone());
        let responder = tokio::spawn(async move {
            while let Some(question) = questions.next().await {
                let (Some(reply), Ok(nonce)) =
                    (question.reply, std::str::from_utf8(&question.payload))
                else {
                    continue;
                };
                // Only a nonce: anything else on the subject is not a question.
                if nonce.len() > 64 || nonce.contains(' ') {
                    continue;
                }
                let _ = answering
                    .publish(reply, format!("{nonce} {me}").into())
                    .await;
            }
        });
        Ok(Self {
            client: client.clone(),
            subject,
            instance,
            inbox,
            answers,
            responder,
        })
    }

    /// The other leafs that answer for this venue id within `within`.
    pub async fn others(&mut self, within: Duration) -> Vec<String> {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let asked = self
            .client
            .publish_with_reply(
                self.subject.clone(),
                self.inbox.clone(),
                nonce.clone().into(),
            )
            .await;
        if asked.is_err() {
            return Vec::new();
        }
        let mut others = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        while let Ok(Some(answer)) = tokio::time::timeout_at(deadline, self.answers.next()).await {
            let Ok(text) = std::str::from_utf8(&answer.payload) else {
                continue;
            };
            // Answers to an earlier question are late, not wrong: skipped.
            if let Some((n, instance)) = text.split_once(' ')
                && n == nonce
                && instance != self.instance
                && !others.iter().any(|o| o == instance)
            {
                others.push(instance.to_owned());
            }
        }
        others
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.responder.abort();
    }
}
