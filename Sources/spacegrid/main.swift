print("spacegrid")
