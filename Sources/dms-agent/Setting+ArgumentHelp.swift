import ArgumentParser
import DMSSettings
import FoundationEssentials
import Logging

extension Setting {
    var name: NameSpecification { .customLong(option) }
    var argumentHelp: ArgumentHelp { ArgumentHelp(help, valueName: valueName) }
}
