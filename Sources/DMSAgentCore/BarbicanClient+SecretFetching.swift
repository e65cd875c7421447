import DMSWire

extension BarbicanClient: SecretFetching {}
