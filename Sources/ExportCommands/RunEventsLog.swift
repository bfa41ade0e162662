import ExportCore
import Logging
import Pipeline

/// The run's events as log lines (ids and counts only) and on the progress line.
enum RunEventsLog {
    static func events(progress: ProgressLine) -> RunEvents {
        RunEvents(
            attempt: { event in
                var metadata: Logger.Metadata = [
                    "run.id": .string(event.run), "partner.id": .string(event.partner), "delivery.id": .string(event.delivery),
                    "batch": .stringConvertible(event.batch), "attempt": .stringConvertible(event.number),
                ]
                if let status = event.exchange.status { metadata["http.status"] = .stringConvertible(status) }
                if event.exchange.curlCode != 0 { metadata["curl.code"] = .stringConvertible(event.exchange.curlCode) }
                switch event.verdict {
                case .delivered:
                    progress.attempted(partner: event.partner, delivered: true, retry: false)
                    logger.info("delivered", metadata: metadata)
                case .retry(let seconds, let reason):
                    progress.attempted(partner: event.partner, delivered: false, retry: true)
                    progress.waiting(partner: event.partner, seconds: seconds)
                    metadata["retry.in_seconds"] = .stringConvertible((seconds * 10).rounded() / 10)
                    logger.notice("attempt failed, will retry: \(reason)", metadata: metadata)
                case .stop(let stop):
                    progress.attempted(partner: event.partner, delivered: false, retry: false)
                    metadata["error.code"] = .string(stop.error.code)
                    metadata["attempts"] = .stringConvertible(event.inThisRun)
                    metadata["in_doubt"] = .stringConvertible(stop.inDoubt)
                    if stop.refused {
                        logger.error("rejected by the partner: \(stop.error.message)", metadata: metadata)
                    } else {
                        let attempts = "\(event.inThisRun) attempt\(event.inThisRun == 1 ? "" : "s")"
                        logger.error("delivery failed after \(attempts): \(stop.error.message)", metadata: metadata)
                    }
                }
            },
            batchRendered: { run, partner, batch, records in
                progress.rendered(partner: partner, batch: batch, records: records)
                logger.debug("batch rendered", metadata: ["run.id": .string(run), "partner.id": .string(partner),
                                                          "batch": .stringConvertible(batch), "records": .stringConvertible(records)])
            },
            problem: { run, partner, delivery, error in
                var metadata: Logger.Metadata = ["run.id": .string(run), "partner.id": .string(partner), "error.code": .string(error.code)]
                if !delivery.isEmpty { metadata["delivery.id"] = .string(delivery) }
                logger.error("\(error.message)", metadata: metadata)
            })
    }
}
