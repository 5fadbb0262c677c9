import SluiceSupport
import Testing

@Suite struct WakeupBatchTests {
    private final class Key {}

    @Test func actionsRunOncePerKeyInOrderWhenTheBatchEnds() {
        let first = Key()
        let second = Key()
        var log: [String] = []
        let result = WakeupBatch.collect { () -> Int in
            #expect(WakeupBatch.isCollecting)
            #expect(WakeupBatch.enqueue(ObjectIdentifier(first)) { log.append("first") })
            #expect(WakeupBatch.enqueue(ObjectIdentifier(second)) { log.append("second") })
            #expect(WakeupBatch.enqueue(ObjectIdentifier(first)) { log.append("first again") })
            #expect(log.isEmpty)
            return 7
        }
        #expect(result == 7)
        #expect(log == ["first", "second"])
        #expect(!WakeupBatch.isCollecting)
    }

    @Test func outsideABatchNothingIsQueued() {
        var ran = false
        #expect(!WakeupBatch.enqueue(ObjectIdentifier(Key())) { ran = true })
        WakeupBatch.drain()
        #expect(!ran)
    }

    @Test func aNestedBatchBelongsToTheOuterOne() {
        let key = Key()
        var log: [String] = []
        WakeupBatch.collect {
            WakeupBatch.collect {
                WakeupBatch.enqueue(ObjectIdentifier(key)) { log.append("inner") }
            }
            #expect(log.isEmpty)
            #expect(WakeupBatch.isCollecting)
        }
        #expect(log == ["inner"])
    }

    @Test func drainRunsWhatIsQueuedAndTheBatchGoesOn() {
        let key = Key()
        var log: [String] = []
        WakeupBatch.collect {
            WakeupBatch.enqueue(ObjectIdentifier(key)) { log.append("one") }
            WakeupBatch.drain()
            #expect(log == ["one"])
            // Queued again after the drain: runs at the end.
            WakeupBatch.enqueue(ObjectIdentifier(key)) { log.append("two") }
            #expect(log == ["one"])
        }
        #expect(log == ["one", "two"])
    }

    @Test func anActionMayQueueAnotherThatStillRuns() {
        let first = Key()
        let second = Key()
        var log: [String] = []
        WakeupBatch.collect {
            WakeupBatch.enqueue(ObjectIdentifier(first)) {
                log.append("first")
                WakeupBatch.enqueue(ObjectIdentifier(second)) { log.append("second") }
            }
        }
        #expect(log == ["first", "second"])
    }
}
