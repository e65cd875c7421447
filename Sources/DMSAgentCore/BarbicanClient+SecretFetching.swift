extension BarbicanClient: SecretFetching {}
