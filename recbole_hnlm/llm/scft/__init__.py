"""HNLMRec proper: supervised contrastive fine-tuning (SCFT) of an LLM with collaborative signals (Sec. 4).

* :mod:`.teacher`: a trained CF model's user / item embeddings and each training pair's hard negative;
* :mod:`.texts`: user and item profiles (stage 1's store, else item text and history) and label texts;
* :mod:`.data`: the hybrid prompt of Eq. 11 with soft-token placeholders, batches without repeated labels;
* :mod:`.model`: LoRA LM + CF MLP, EOS pooling (one function for queries and labels, training and export);
* :mod:`.train`: the InfoNCE loop of Eq. 12 with accelerate, schedules, evaluation, checkpoints and resume;
* :mod:`.export`: hard-negative embeddings per pair / user / item and the item anchor set, as feature files;
* :mod:`.cli`: ``python -m recbole_hnlm.llm.scft finetune|export|all``.

Nothing heavy is imported here.
"""
