print("dms-agent")
