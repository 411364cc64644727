import Foundation

/// A class's grades: what `workbook class grade` writes (whole, or one shard of it) and what
/// `workbook class merge` joins. Every roster format (CSV, JSON, Markdown, HTML) is drawn
/// from this one model; the JSON form is the model itself, so shards merge losslessly.
struct ClassRoster: Codable, Equatable {
    /// "Socket Workbook class roster": tells a roster from other JSON files.
    var kind = ClassRoster.kindName
    static let kindName = "Socket Workbook class roster"
    /// When the grading ran (ISO 8601, UTC).
    var generated: String
    /// The fingerprint of the instructor's graders, harness and manifest that graded it:
    /// shards graded with different graders must not be merged.
    var graders: String
    /// The seed the checks drew their inputs from.
    var seed: UInt64
    /// "1/3" for a shard; nil for a whole class.
    var shard: String?
    var lessons: [Column]
    /// One row a submission, in the order of their ids.
    var learners: [Learner]

    /// A lesson, as a column.
    struct Column: Codable, Equatable {
        let number: Int
        let title: String
    }

    struct Learner: Codable, Equatable {
        /// The submission's folder or archive name, without extension: unique in a class, and
        /// what the HTML and Markdown anchors are made from ("learner-<id>").
        let id: String
        /// From --roster, else the id.
        var name: String
        /// From --roster, else empty.
        var studentNumber: String
        /// The path the submission was given as.
        let source: String
        /// Why the submission could not be graded at all (not a workbook copy, an archive that
        /// does not unpack, a folder the roster names that is not there); nil when it was.
        var problem: String?
        /// One a lesson, in the order of `ClassRoster.lessons`; empty when `problem` is set.
        var lessons: [Lesson]
        /// Reasons to look closer: see `Flag.Kind`. Duplicates are not here: they are found
        /// across the whole class (`ClassRoster.duplicates`).
        var flags: [Flag]

        var checksPassed: Int { lessons.reduce(0) { $0 + $1.passed } }
        var checksTotal: Int { lessons.reduce(0) { $0 + $1.total } }
        var lessonsDone: Int { lessons.filter { $0.state == .done }.count }
    }

    struct Lesson: Codable, Equatable {
        let number: Int
        var state: State
        var passed: Int
        var total: Int
        /// Each failing check: its title, how it ended, and its messages (the grader's
        /// expected / actual / transcript / hint), or the compiler's errors.
        var failures: [Failure]
        /// SHA-256 of the answer after comments and whitespace are taken out; nil when the
        /// answer is the untouched stub. Two learners with the same value handed in the same
        /// answer.
        var normalized: String?
    }

    enum State: String, Codable, Equatable, CaseIterable {
        case done
        case failing
        case notStarted = "not started"
        case doesNotCompile = "does not compile"
        case crashed
    }

    struct Failure: Codable, Equatable {
        /// "3. sendAllThrowsWhenItCannotSend", or "build" for compiler errors.
        let check: String
        /// "failed", "crashed", "timed out", "not run", "does not compile".
        let verdict: String
        let messages: [String]
        /// The hint id the messages end with ("sendall-sigpipe"), if any: what the summary
        /// counts to find each lesson's most common mistake.
        var hint: String? {
            for message in messages.reversed() {
                guard let range = message.range(of: "hint [") else { continue }
                let rest = message[range.upperBound...]
                if let end = rest.firstIndex(of: "]") { return String(rest[..<end]) }
            }
            return nil
        }
    }

    struct Flag: Codable, Equatable {
        enum Kind: String, Codable, CaseIterable {
            /// Files outside Exercises/ that affect grading differ from the instructor's.
            case changedGradingFiles = "changed grading files"
            /// An answer imports a module an answer may not use.
            case disallowedImport = "disallowed import"
            /// A link in Exercises/ that leads out of the submission, or a path in an archive
            /// that escapes its root: left out, never followed.
            case escapingPath = "escaping path"
            /// An answer file over 1 MB (left out), or an archive that would unpack to more
            /// than the instructor's disk should take (not unpacked).
            case tooLarge = "too large"
        }
        let kind: Kind
        let reason: String
    }

    /// Learners who handed in the same answer for a lesson (after comments and whitespace are
    /// taken out): a prompt to look, not a verdict. Computed from the rows, so that a merged
    /// roster finds groups across shards.
    struct DuplicateGroup: Codable, Equatable {
        let lesson: Int
        /// The learners' ids, sorted.
        let learners: [String]
        /// True when the shared answer is the reference answer in Solutions/.
        let isReferenceAnswer: Bool
    }

    /// Every duplicate group, by lesson then by first learner.
    func duplicates(reference: [Int: String] = [:]) -> [DuplicateGroup] {
        var groups: [DuplicateGroup] = []
        for column in lessons {
            var byAnswer: [String: [String]] = [:]
            for learner in learners {
                guard let hash = learner.lessons.first(where: { $0.number == column.number })?.normalized else { continue }
                byAnswer[hash, default: []].append(learner.id)
            }
            for (hash, ids) in byAnswer where ids.count > 1 {
                groups.append(DuplicateGroup(lesson: column.number, learners: ids.sorted(), isReferenceAnswer: reference[column.number] == hash))
            }
        }
        return groups.sorted { ($0.lesson, $0.learners.first ?? "") < ($1.lesson, $1.learners.first ?? "") }
    }
}
