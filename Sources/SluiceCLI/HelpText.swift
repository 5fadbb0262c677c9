/// Help text of every command, printed by `--help` (golden-tested).
enum HelpText {
    static let root = """
        sluice: a Kinesis-compatible durable stream core with Firehose-style delivery.

        Usage: sluice <command> [options]

        Commands:
          serve                 Run the Kinesis-compatible HTTP service.
          validate [FILES...]   Check pipeline definition files (default: ./Pipelines).
          pipelines status      Show the delivery pipelines of a running server.
          pipelines flush NAME  Publish a pipeline's open buffers now.
          replay PIPELINE       Replay a pipeline's error output.
          verify PIPELINE       Audit a pipeline: every record in exactly one file.
          streams create NAME   Create a stream.
          streams list          List streams.
          streams describe NAME Describe a stream and its shards.
          streams delete NAME   Delete a stream and all its records.
          put STREAM            Append records to a stream.
          get STREAM            Print records of a stream.
          help [COMMAND]        Show help for a command.

        Commands that use streams take --data-dir DIR (default ./data).
        Run 'sluice <command> --help' for the options of a command.
        """

    static let serve = """
        Usage: sluice serve [options]

        Run the service: an HTTP/1.1 server speaking the Kinesis Data Streams and Firehose JSON
        APIs, so that boto3, the aws CLI and AWS SDKs work with --endpoint-url http://HOST:PORT,
        and every pipeline file of --pipelines, delivering into --archive-dir. Prints
        'sluice admin listening on HOST:PORT' (with pipelines) and then
        'sluice listening on HOST:PORT' once ready. SIGTERM or SIGINT drains in-flight requests,
        publishes open pipeline buffers, syncs and exits 0; a second signal exits at once.

        Options:
          --listen HOST:PORT        Address to listen on (default 127.0.0.1:4567; port 0 picks one).
          --data-dir DIR            Data directory (default ./data).
          --log-level LEVEL         trace, debug (one access line per request), info (default),
                                    notice, warning or error.
          --durability POLICY       always (default), interval:MS or never.
          --creation-delay-ms N     How long a new stream stays CREATING (default 500).
          --shard-limit N           Open shards allowed across all streams (default 500).
          --header-timeout-ms N     Time a client has to send request headers (default 10000).
          --idle-timeout-ms N       Idle keep-alive connections close after this (default 60000).
          --max-connections N       Connections beyond this are refused with 503 (default 4096).
          --max-body-bytes N        Largest request body (default 8388608).
          --workers N               Request handler threads (default 64).
          --pipelines DIR           Pipeline files (default ./Pipelines; none if that is absent).
          --archive-dir DIR         Where pipelines publish (default ./archive).
          --admin-listen HOST:PORT  Loopback admin endpoint for 'sluice pipelines'
                                    (default 127.0.0.1:4568; port 0 picks one).
          -h, --help                Show this help.
        """

    static let streams = """
        Usage: sluice streams <create|list|describe|delete> [options]

        Manage streams in a data directory.

          sluice streams create NAME [--shards N]
          sluice streams list
          sluice streams describe NAME [--json]
          sluice streams delete NAME

        Options:
          --data-dir DIR   Data directory (default ./data).
          --shards N       Shards of a new stream, 1 to the shard limit (default 1).
          --json           Print the description as JSON.
          -h, --help       Show this help.
        """

    static let put = """
        Usage: sluice put STREAM --partition-key KEY [DATA | --file PATH] [options]

        Append records to STREAM. With DATA, appends one record holding DATA. With --file,
        appends one record holding the file's bytes. With neither, reads standard input and
        appends one record per line (without its newline), in batches of up to 500.

        Prints one line per record once it is durable: '<shardId> <sequenceNumber>'.

        Options:
          --partition-key KEY      Partition key, 1 to 256 characters (required).
          --explicit-hash-key N    Route by this hash key (0 to 2^128-1) instead of the key's MD5.
          --file PATH              Append the file's contents as one record.
          --durability POLICY      always (default: fsync before acknowledging), interval:MS, or never.
          --data-dir DIR           Data directory (default ./data).
          -h, --help               Show this help.
        """

    static let get = """
        Usage: sluice get STREAM [--shard ID] [--from POSITION] [--limit N] [--json]

        Print the records of STREAM, one per line, oldest first. Without --shard, reads every
        shard in shard order (parents before their children) up to the newest record.

        Options:
          --shard ID          Only this shard (shardId-000000000000, or just 0).
          --from POSITION     trim-horizon (default), latest, at-timestamp:T (T is ISO 8601 such
                              as 2026-11-21T10:00:00Z, or epoch seconds), at-sequence:N,
                              or after-sequence:N.
          --limit N           Print at most N records (default: all).
          --json              One JSON object per line: shardId, sequenceNumber, partitionKey,
                              approximateArrivalTimestamp and data (base64).
          --data-dir DIR      Data directory (default ./data).
          -h, --help          Show this help.
        """

    static let pipelines = """
        Usage: sluice pipelines status [--admin HOST:PORT] [--json]
               sluice pipelines flush NAME [--admin HOST:PORT]

        Ask a running 'sluice serve' about its delivery pipelines, through its admin endpoint
        (loopback only; 'sluice serve --admin-listen', default 127.0.0.1:4568).

        Commands:
          status          Per pipeline: health, open partitions, buffered bytes, age of the
                          oldest undelivered record, files and records published, error records
                          and retries.
          flush NAME      Seal and publish the pipeline's open buffers now (reason on-demand);
                          returns once they are published.

        Options:
          --admin HOST:PORT   The admin endpoint (default 127.0.0.1:4568).
          --json              Print the status document as JSON.
          -h, --help          Show this help.
        """

    static let replay = """
        Usage: sluice replay PIPELINE [--type TYPES] [--since T] [--until T] [--dry-run]
                                      [--pipelines DIR] [--archive-dir DIR] [--data-dir DIR] [--admin HOST:PORT]

        Replay a pipeline's error output: every error document's rawData goes through the
        pipeline's current processors and partitioning and is published as a normal delivery
        would publish it. Records that fail again go to new error output with attemptsMade one
        higher. A ledger in the data directory makes it idempotent: running it twice, or again
        after it was killed, publishes nothing twice. It works offline; when a running
        'sluice serve' holds the data directory, it replays through its admin endpoint.

        Options:
          --type TYPES        Only these error-output types, comma-separated: processing-failed,
                              delivery-failed, partitioning-failed, decompression-failed,
                              activePartitionExceeded.
          --since T           Only records that arrived at or after T (ISO 8601 or epoch seconds).
          --until T           Only records that arrived before T.
          --dry-run           Count what would be replayed; publish and record nothing.
          --pipelines DIR     Pipeline files (default ./Pipelines).
          --archive-dir DIR   The archive (default ./archive).
          --data-dir DIR      Data directory, which holds the replay ledger (default ./data).
          --admin HOST:PORT   The running server's admin endpoint (default 127.0.0.1:4568).
          -h, --help          Show this help.
        """

    static let verify = """
        Usage: sluice verify PIPELINE [--pipelines DIR] [--archive-dir DIR] [--data-dir DIR]

        Audit a pipeline: every record (every output, after processors) in its stream's retained
        range up to the pipeline's checkpoint must be in exactly one published file or error
        document, and every file the pipeline's manifest names must exist and decompress to the
        recorded size or number of documents. Gaps and duplicates are listed with their shard,
        sequence number and file names; what cannot be checked is said. Exits 0 only when the
        audit holds. Run it while 'sluice serve' is stopped (it opens the data directory).

        Options:
          --pipelines DIR     Pipeline files (default ./Pipelines).
          --archive-dir DIR   The archive, or a copy of it (default ./archive).
          --data-dir DIR      Data directory (default ./data).
          -h, --help          Show this help.
        """
}
