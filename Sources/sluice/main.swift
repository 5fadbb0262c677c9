import SluiceCLI

CommandLineTool.runAndExit()
