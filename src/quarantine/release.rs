//! Handing a quarantined message to the upstream with its original envelope.

use crate::reply::Reply;
use crate::runtime::Runtime;
use crate::smtp::upstream::Upstream;
use crate::spam::bayes::{learn, Class};
use crate::spool::Spool;

/// Sends entry `id` to the upstream of the listener it arrived on (or the first listener), and
/// deletes it from quarantine once the upstream accepted it for at least one recipient.
pub async fn release(rt: &Runtime, id: &str) -> Result<Reply, String> {
    let (entry, message) = rt.quarantine.get(id).map_err(|e| format!("{id}: {e}"))?;
    let listener = rt
        .session
        .listeners
        .get(&entry.listener)
        .or_else(|| {
            rt.config
                .listeners
                .first()
                .and_then(|l| rt.session.listeners.get(&l.name))
        })
        .ok_or("no listener configured")?;
    let mut up = Upstream::connect(listener.upstream.clone())
        .await
        .map_err(|e| e.to_string())?;
    let smtputf8 = !entry.mail_from.is_ascii() || entry.rcpts.iter().any(|r| !r.is_ascii());
    let mut line = format!("MAIL FROM:<{}>", entry.mail_from);
    if smtputf8 {
        line.push_str(" SMTPUTF8");
    }
    if let Some(reply) = up.mail(&line).await.map_err(|e| e.to_string())? {
        if !reply.is_positive() {
            return Err(format!("upstream refused the sender: {reply}"));
        }
    }
    let mut accepted = 0;
    for rcpt in &entry.rcpts {
        let reply = up
            .command(&format!("RCPT TO:<{rcpt}>"), "RCPT")
            .await
            .map_err(|e| e.to_string())?;
        if let Some(refusal) = up.take_mail_refusal() {
            return Err(format!("upstream refused the sender: {refusal}"));
        }
        if reply.is_positive() {
            accepted += 1;
        } else {
            eprintln!("{rcpt}: {reply}");
        }
    }
    if accepted == 0 {
        return Err("upstream refused every recipient".into());
    }
    let (reply, _) = up
        .send_message(&[], 0, &Spool::from_bytes(message.clone()))
        .await
        .map_err(|e| e.to_string())?;
    up.quit().await;
    if !reply.is_positive() {
        return Err(format!("upstream refused the message: {reply}"));
    }
    rt.quarantine
        .delete(id)
        .map_err(|e| format!("released, but cannot delete {id}: {e}"))?;
    learn_as_ham(rt, id, &message).await;
    Ok(reply)
}

/// An admin who releases a message says it is not spam: the classifier learns it as ham
/// (`spam.bayes.learn_on_release`), correcting an autolearnt or learnt-as-spam copy. The
/// message is already delivered, so a failure only warns.
async fn learn_as_ham(rt: &Runtime, id: &str, message: &[u8]) {
    let spam = &rt.config.spam;
    if !(spam.enabled && spam.bayes.enabled && spam.bayes.learn_on_release) {
        return;
    }
    let db = match learn::open(&rt.config, &rt.source.base_dir()) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("{id}: not learnt as ham: {e}");
            return;
        }
    };
    let limits = crate::inspect::Limits::default();
    let sample = learn::sample(message, Class::Ham, &limits, spam.bayes.max_features);
    match db.learn(&[sample]).await {
        Ok(o) => eprintln!(
            "{id}: learnt as ham ({})",
            o.first().map_or("", |o| o.as_str())
        ),
        Err(e) => eprintln!("{id}: not learnt as ham: {e}"),
    }
    db.close().await;
}
