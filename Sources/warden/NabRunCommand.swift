import ArgumentParser

struct NabRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run a detector over NAB data.")
    func run() throws {}
}
