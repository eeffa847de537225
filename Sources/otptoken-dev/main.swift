import OTPTokenDevTools

await DevToolsCommand.runMain()
