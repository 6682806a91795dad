//! One venue id, one venue. nats-server does not notice two venues linked with the same
//! JetStream domain: requests to `$JS.<domain>.API` reach both, and their messages would mix
//! in one central copy. So each running leaf answers for its venue id, and asks now and then
//! who else answers: any other leaf is a conflict to show.
//!
//! Questions and answers go on two fixed subjects, never to a reply subject a question
//! names: a reply subject is whatever the asker wrote, and an answer published there by
//! this leaf's own connection would land in its own streams were it `tournament.…`.

use std::time::Duration;

use futures_util::StreamExt;

use super::VenueId;

/// The other leafs answering for one venue id, as far as one question can tell.
pub struct Claim {
    client: async_nats::Client,
    questions_subject: String,
    /// This leaf, for this run.
    instance: String,
    /// Subscribed once, so the central cluster knows the interest long before an answer is
    /// on its way.
    answers: async_nats::Subscriber,
    responder: tokio::task::JoinHandle<()>,
}

/// The longest nonce a question may carry.
const MAX_NONCE: usize = 64;

impl Claim {
    pub async fn start(
        client: &async_nats::Client,
        venue: &VenueId,
    ) -> Result<Self, async_nats::SubscribeError> {
        let questions_subject = format!("leaf.uplink.venue.{venue}.claim");
        let answers_subject = format!("{questions_subject}.answer");
        let instance = uuid::Uuid::new_v4().to_string();
        let mut questions = client.subscribe(questions_subject.clone()).await?;
        let answers = client.subscribe(answers_subject.clone()).await?;
        let (answering, me) = (client.clone(), instance.clone());
        let responder = tokio::spawn(async move {
            while let Some(question) = questions.next().await {
                let Ok(nonce) = std::str::from_utf8(&question.payload) else {
                    continue;
                };
                if nonce.is_empty()
                    || nonce.len() > MAX_NONCE
                    || !nonce.bytes().all(|b| b.is_ascii_alphanumeric())
                {
                    continue;
                }
                let _ = answering
                    .publish(answers_subject.clone(), format!("{nonce} {me}").into())
                    .await;
            }
        });
        Ok(Self {
            client: client.clone(),
            questions_subject,
            instance,
            answers,
            responder,
        })
    }

    /// The other leafs that answer for this venue id within `within`; `None` when the
    /// question could not be asked.
    pub async fn others(&mut self, within: Duration) -> Option<Vec<String>> {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let asked = self
            .client
            .publish(self.questions_subject.clone(), nonce.clone().into())
            .await;
        if asked.is_err() {
            return None;
        }
        let mut others = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        while let Ok(Some(answer)) = tokio::time::timeout_at(deadline, self.answers.next()).await {
            let Ok(text) = std::str::from_utf8(&answer.payload) else {
                continue;
            };
            // Answers to another leaf's question, or to an earlier one, are skipped.
            if let Some((n, instance)) = text.split_once(' ')
                && n == nonce
                && instance != self.instance
                && instance.len() <= MAX_NONCE
                && !others.iter().any(|o| o == instance)
            {
                others.push(instance.to_owned());
            }
        }
        Some(others)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.responder.abort();
    }
}
