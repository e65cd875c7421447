import VaultFuse

typealias PIDDirectoryReport = DirectoryReport
