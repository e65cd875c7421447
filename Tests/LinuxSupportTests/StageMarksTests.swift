import LinuxSupport
import Testing

struct StageMarksTests {
    @Test func stagesAreTheTimesBetweenConsecutiveMarks() {
        let marks = StageMarks()
        marks.mark("received", at: 1_000)
        marks.mark("parsed", at: 1_250)
        marks.mark("acked", at: 2_000)
        #expect(marks.stages.map(\.name) == ["parsed", "acked"])
        #expect(marks.stages.map(\.nanoseconds) == [250, 750])
    }

    @Test func aMarkReachesTheTaskLocalThroughTheBlockingPool() async {
        let marks = StageMarks()
        await StageMarks.$current.withValue(marks) {
            StageMarks.mark("before")
            await BlockingPool.run { StageMarks.mark("on the blocking pool") }
        }
        StageMarks.mark("outside: nobody's")
        #expect(marks.stages.map(\.name) == ["on the blocking pool"])
    }
}
