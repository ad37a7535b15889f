import Foundation
import WardenTestSupport

/// The supervisor tests' node: a supervisor over the test's spec, every event recorded.
typealias Harness = SupervisedNode
