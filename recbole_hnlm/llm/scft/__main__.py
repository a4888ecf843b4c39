from recbole_hnlm.llm.scft.cli import entry_point

entry_point()
