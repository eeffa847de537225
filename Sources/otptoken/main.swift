import OTPTokenCLI

await OTPTokenCommand.runMain()
